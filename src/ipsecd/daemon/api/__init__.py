"""Driving ipsecd like a router (issue 14): the RouterOS API protocol, REST, metrics.

:mod:`.words` and :mod:`.query` are the protocol's codecs, :mod:`.backend` the one place that calls
mgmt's command layer and checks a user's policies, :mod:`.auth` logs users in, :mod:`.ros_api` and
:mod:`.rest` speak the two protocols over :mod:`.http`, :mod:`.server` runs the ``/ip service``
listeners and :mod:`.metrics` renders the Prometheus exposition.
"""
