from kernel.migrate import run_env
from services.credit.models import Base

run_env(Base.metadata)
