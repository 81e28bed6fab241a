from kernel.migrate import run_env
from services.insurance.models import Base

run_env(Base.metadata)
