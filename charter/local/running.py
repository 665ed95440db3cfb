"""The embedded AWS as the code running against it in this process knows it: its management
account and the endpoints of its running servers. A module of its own because the server
(which records its endpoint) and the patches (which read it) both need it, and the patches
cannot import it from the server, which imports them."""

from __future__ import annotations

#: moto's default account: the one whose fake credentials the embedded AWS accepts first.
#: It becomes the management account when the organization is created.
LOCAL_MANAGEMENT_ACCOUNT = "123456789012"


#: The endpoint of the running embedded AWS, for custom-resource handlers run in-process.
_ENDPOINT: list[str] = []
