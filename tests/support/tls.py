"""Test certificates made with the openssl command: a throw-away CA and server certificates it signs.

`TestCA(dir).issue("localhost", "127.0.0.1")` gives a certificate whose subjectAltName holds those names (an IP
address as `IP:`); clients trust the CA through `ca.cert` (for a subprocess: SSL_CERT_FILE=ca.cert). A certificate
issued for another name (`issue("wrong.example")`) is the "does not match" case.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import need


@dataclass(frozen=True)
class CertFiles:
    cert: Path  # PEM, the server certificate then the CA (a full chain)
    key: Path


def _san(name: str) -> str:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return f"DNS:{name}"
    return f"IP:{name}"


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, directory: Path) -> None:
        self.openssl = need("openssl")["openssl"]
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.cert = directory / "ca.pem"
        self.key = directory / "ca.key"
        self._run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=agentmail test CA",
                  "-keyout", str(self.key), "-out", str(self.cert),
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.cert, 0o644)

    def _run(self, *args: str) -> None:
        proc = subprocess.run([self.openssl, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args[:2])} failed: {proc.stderr}")

    def issue(self, *names: str, stem: str | None = None) -> CertFiles:
        """A server certificate for `names` (the first is the CN), signed by this CA; files readable by all, so
        daemons that drop privileges before reading them can (test keys only)."""
        stem = stem or names[0].replace(":", "_")
        key, csr, crt = (self.dir / f"{stem}.{ext}" for ext in ("key", "csr", "crt"))
        ext = self.dir / f"{stem}.ext"
        ext.write_text(f"subjectAltName={','.join(_san(n) for n in names)}\n"
                       "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        self._run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={names[0]}", "-keyout", str(key),
                  "-out", str(csr))
        self._run("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                  "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt))
        chain = self.dir / f"{stem}.pem"
        chain.write_bytes(crt.read_bytes() + self.cert.read_bytes())
        for path in (chain, key):
            os.chmod(path, 0o644)
        return CertFiles(chain, key)
