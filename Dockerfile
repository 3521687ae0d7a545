# Build the wheel from the sources, then install only the wheel: the image runs the
# installed package, which carries its Alembic environment and revisions
# (services/booking/db/migrations, see setup.py), so booking-migrate needs no checkout.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md alembic.ini ./
COPY contracts contracts
COPY services services
COPY migrations migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --no-create-home booking
USER booking
WORKDIR /tmp
ENV PYTHONUNBUFFERED=1
CMD ["python", "-m", "services.worker"]
