"""Customer CSV exports: the form and pages, the jobs, and the background engine that reads every customer."""
