"""The map/reduce task runtime: registry of tasks, the fixed reduction tree, the executor."""
from .reduce import split_point, tree_reduce
from .registry import IndexedTask, MRTask, get_task, register_task, task_names
from .runtime import Runtime, TaskContext

__all__ = ["MRTask", "IndexedTask", "register_task", "get_task", "task_names", "tree_reduce",
           "split_point", "Runtime", "TaskContext"]
