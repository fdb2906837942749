"""Apache Airflow provider for B2B data-API credits: hooks, a threshold sensor and a usage-to-SQL operator.

Importing this package is cheap on purpose (DAG files import it at every parse): it
imports nothing from the submodules.
"""

__version__ = "0.2.0"
