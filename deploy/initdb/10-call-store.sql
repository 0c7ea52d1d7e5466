-- The LLM call store's own database (the project creates and migrates its tables on first use).
CREATE DATABASE xpertbench_calls OWNER xpertbench;
