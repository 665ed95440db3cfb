"""KMS keys whose asymmetric key material is made when it is first used."""

from __future__ import annotations

import threading
from typing import Any

#: The server answers on several threads: two first uses of one key must make one key, or a
#: signature made with the first would not verify with the second.
_MAKING = threading.Lock()


class LazyPrivateKey:
    """Stands in for moto's private key object and makes it on first use (sign, verify,
    public key), with the key spec the key was created with."""

    def __init__(self, make: Any, key_spec: str) -> None:
        self.__dict__["_make"], self.__dict__["_spec"], self.__dict__["_key"] = make, key_spec, None

    @property
    def made(self) -> bool:
        return self.__dict__["_key"] is not None

    def __getattr__(self, name: str) -> Any:  # only for what the object itself lacks
        if name.startswith("__"):
            raise AttributeError(name)
        if self.__dict__["_key"] is None:
            with _MAKING:
                if self.__dict__["_key"] is None:
                    self.__dict__["_key"] = self.__dict__["_make"](self.__dict__["_spec"])
        return getattr(self.__dict__["_key"], name)


def make_key_material_on_first_use() -> None:
    """moto 5.2 generates an RSA-2048 private key for every KMS key it creates, symmetric ones
    included (the only keys Charter's landing zone makes): ~50-100 ms of CPU each, one per
    account, environment and region, which was 77% of a 470-account deploy on the embedded
    AWS. The key material is now made when a Sign, Verify or GetPublicKey first needs it;
    what each call answers is unchanged."""
    from moto.kms import models

    original = models.generate_private_key
    if getattr(original, "__charter_lazy__", False):
        return

    def generate_private_key(key_spec: str) -> Any:
        return LazyPrivateKey(original, key_spec)

    generate_private_key.__charter_lazy__ = True  # type: ignore[attr-defined]
    models.generate_private_key = generate_private_key
