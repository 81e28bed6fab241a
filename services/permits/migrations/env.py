from kernel.migrate import run_env
from services.permits.models import Base

run_env(Base.metadata)
