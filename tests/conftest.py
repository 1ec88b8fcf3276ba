pytest_plugins = ["tests.integration.registry_fixtures"]
