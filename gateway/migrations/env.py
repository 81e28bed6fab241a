from gateway.models import Base
from kernel.migrate import run_env

run_env(Base.metadata)
