"""The live web page of ``dnslab up`` / ``dnslab drill`` and ``dnslab view`` (docs/web.md).

``hub.EventHub`` is a drill event sink (``lab.drill.events``) that numbers every event and
folds it into the page's model (``model.PageModel``: what the page draws, the stream's
snapshot); ``server.WebServer`` serves the static page (``static/``, package data, no build
step) and one Server-Sent Events stream of the hub's events at ``/events``.
"""
