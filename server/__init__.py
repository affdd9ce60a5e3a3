"""The Inpainterz GPU server (installed as ``inpainterz_server``) and its pure-Python client.

``protocol`` is the message schema shared by both ends (docs/protocol.md), ``client``
the client the Blender add-on bundles, ``app`` the ``inpainterz serve`` command and ``loop``
the ROUTER loop behind it (the other modules are listed in ``app``'s docstring).
Nothing is imported here, so importing the client never pulls in numpy or torch.
"""
