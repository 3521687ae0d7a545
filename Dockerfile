FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY contracts contracts
COPY services services
COPY migrations migrations
RUN pip install --no-cache-dir .
# the package is installed; alembic.ini and migrations/ are read from /app
ENV PYTHONUNBUFFERED=1
CMD ["python", "-m", "services.worker"]
