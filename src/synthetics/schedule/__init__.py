"""The maintenance schedule: the document's table, its scheduler, the jobs that are not plain check
runs, backup and reviews."""
