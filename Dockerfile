# Minimal image for now: the coach on Python 3.11, configured by environment variables.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY conversations ./conversations
COPY schedules ./schedules
COPY data ./data
RUN pip install --no-cache-dir .
ENV DATABASE_URL=sqlite:////data/spine-coach.sqlite3
VOLUME ["/data"]
CMD ["python", "-m", "bot"]
