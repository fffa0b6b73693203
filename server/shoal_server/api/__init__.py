"""The node HTTP/JSON API: declared operations, validation, handlers, the aiohttp server."""
