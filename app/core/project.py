"""What this service is called, in one place: the docs title, logs' service.name, mail.

A project started from the template with `copier copy` gets its own values here; every other
module takes the name from this one.
"""

NAME = "Barah"  # for people: the OpenAPI title, mail subjects
SLUG = "barah"  # for machines: service.name in logs, the default database file
DESCRIPTION = "A production-grade Flask API template that follows the twelve-factor app."
# The OpenAPI document's license (an SPDX expression): a project started from the template
# states its own, e.g. "MIT" or "Apache-2.0".
LICENSE = "LicenseRef-Proprietary"
MAIL_FROM = "Barah <no-reply@example.com>"  # the default sender; MAIL_FROM overrides it
# Prometheus metric names allow letters, digits and underscores.
METRIC_PREFIX = SLUG.replace("-", "_")
