pytest_plugins = [
    "tests.integration.registry_fixtures",
    "tests.integration.docker_fixtures",
]
