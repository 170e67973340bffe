# The application image: web (gunicorn), worker and beat (celery) all run it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes reuse this layer. Every pin ships a
# manylinux wheel (psycopg[binary], cassandra-driver with libev, lxml), so no
# compiler is needed.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files at build time. The production settings refuse weak secrets,
# so give them throwaway ones that exist only in this RUN step (and no file
# store, whose keys only exist at run time).
RUN SECRET_KEY="build-$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    JWT_SIGNING_KEY="build-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    DJANGO_SETTINGS_MODULE=core.settings.production FILE_STORAGE=local \
    python manage.py collectstatic --noinput

# A non-root user with a home (gunicorn keeps its control socket in ~/.gunicorn);
# it owns staticfiles so the one-shot `migrate` service can refresh the shared
# static volume.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && chown -R app:app /app/staticfiles
USER app

EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "core.wsgi:application", "--bind", "0.0.0.0:8000"]
