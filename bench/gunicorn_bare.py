"""gunicorn settings for the baseline and the ceiling: the template's numbers, not its code.

``bench/run.py`` resolves the template's server settings (``ServerSettings`` in
app/settings.py, the values gunicorn.conf.py uses) and passes them to all three servers as
explicit variables; this file reads them without importing the app, so the baseline's master
process, and the workers it forks, carry none of the template's modules.
"""

import os

bind = f"{os.environ['HOST']}:{os.environ['PORT']}"
workers = int(os.environ["WEB_CONCURRENCY"])
threads = int(os.environ["GUNICORN_THREADS"])
timeout = int(os.environ["GUNICORN_TIMEOUT"])
graceful_timeout = int(os.environ["GUNICORN_GRACEFUL_TIMEOUT"])
keepalive = int(os.environ["GUNICORN_KEEPALIVE"])
accesslog = None
errorlog = "-"
forwarded_allow_ips = "127.0.0.1,::1"
# As in gunicorn.conf.py: several masters run side by side here, and gunicornc is not used.
control_socket_disable = True
