"""The model-versions view of TopicTensor inside Airflow (see ``topictensor_versions_plugin.py``).

``catalog`` reads the registry (no Airflow), ``plot`` draws quality over time, ``pages`` renders
HTML, ``app`` is the FastAPI app with Airflow's authentication and authorisation.
This package is listed in ``plugins/.airflowignore``: Airflow's plugin loader imports every
``.py`` under the plugins folder as a top-level module named after the file (``app``, ``__init__``),
so only ``topictensor_versions_plugin.py`` is loaded as a plugin and it imports this package.
"""

DAG_ID = "topictensor_refresh"  # the DAG that publishes versions: editing it = may promote / roll back
URL_PREFIX = "/topictensor"  # where Airflow's API server mounts the app
UI_ROUTE = "topictensor-versions"  # the page in the Airflow UI: <airflow>/plugin/topictensor-versions
