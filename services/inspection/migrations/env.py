from kernel.migrate import run_env
from services.inspection.models import Base

run_env(Base.metadata)
