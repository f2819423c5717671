import pytest
import torch

from cosim.config import load_settings


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    # the machine is shared: keep the engine tests on one core
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def settings():
    return load_settings()


@pytest.fixture(scope="session")
def mnist_test(settings):
    from cosim.data import load_dataset

    return load_dataset("mnist", "test", settings)
