"""Entry point for `sendopt report` — a spark-submit main file and a Databricks spark_python_task.

Arguments are the CLI's: [--env local|cluster|databricks] [--conf FILE] [--set k=v] [--date D] [--region R --brand B]
"""
import sys

from sendopt.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
