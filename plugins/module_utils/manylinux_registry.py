"""A small client of the registry HTTP API (OCI distribution), shared by the registry modules.

It answers a C(Basic) or C(Bearer) challenge with the given credentials (anonymous when empty), as
ghcr.io and a local registry ask, and never follows a redirect with them.
"""

import base64
import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
CHUNK = 1 << 20
MANIFEST_TYPES = ", ".join([OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.v2+json",
                            "application/vnd.docker.distribution.manifest.list.v2+json"])


# The options of the modules that speak to one repository (documented once, in
# doc_fragments/manylinux_registry.py).
REGISTRY_ARGUMENT_SPEC = dict(
    registry=dict(type="str", required=True),
    repository=dict(type="str", required=True),
    username=dict(type="str", default=""),
    password=dict(type="str", default="", no_log=True),
    insecure=dict(type="bool", default=False),
    timeout=dict(type="int", default=60),
)


def client_from(params, opener=None):
    """The client of a module's REGISTRY_ARGUMENT_SPEC parameters."""
    return Registry(params["registry"], params["repository"], params["username"], params["password"],
                    params["insecure"], params["timeout"], opener=opener)


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _challenge(header):
    """(scheme, {param: value}) of a WWW-Authenticate header."""
    scheme, _, rest = (header or "").partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _basic(username, password):
    return "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode()).decode()


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode() or "null")


def _answer(response, sink):
    """The Response of an open answer; its body to `sink` block by block when there is one."""
    status, headers = getattr(response, "status", 200), getattr(response, "headers", {})
    if sink is None:
        return Response(status, headers, response.read())
    for block in iter(lambda: response.read(CHUNK), b""):
        sink(block)
    return Response(status, headers, b"")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx comes back as an HTTPError: Registry.request follows it itself, without the credentials (urllib would
    send the Authorization header on to another host, such as the storage a blob GET is sent to)."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPEN = urllib.request.build_opener(_NoRedirect).open
REDIRECTS = (301, 302, 303, 307, 308)


class Registry:
    """One repository of one registry."""

    def __init__(self, registry, repository, username="", password="", insecure=False, timeout=30, opener=None):
        self.base = "%s://%s" % ("http" if insecure else "https", registry)
        self.repository = repository
        self.username, self.password, self.timeout = username, password, timeout
        self.opener = opener or _OPEN
        self.authorization = None

    def _token(self, params, scope):
        query = {key: params[key] for key in ("service", "scope") if key in params}
        query["scope"] = query.get("scope") or "repository:%s:%s" % (self.repository, scope)
        headers = {"Authorization": _basic(self.username, self.password)} if self.username else {}
        request = urllib.request.Request(params["realm"] + "?" + urllib.parse.urlencode(query), headers=headers)
        with self.opener(request, timeout=self.timeout) as response:
            answer = json.load(response)
        return "Bearer " + (answer.get("token") or answer.get("access_token") or "")

    def request(self, method, path, data=None, headers=None, scope="pull", sink=None):
        """A Response for METHOD /v2/<repository>/<path> (or an absolute URL the registry gave); a 4xx or 5xx
        other than an answered challenge is a Response too, for the caller to judge. `data` may be an open file
        (sent from its start, in blocks); with `sink` (a callable), a 2xx body goes to it block by block and
        the Response's body is empty."""
        url = path if re.match(r"https?://", path) else "%s/v2/%s/%s" % (self.base, self.repository, path)
        for _ in range(2):
            sent = dict(headers or {})
            if self.authorization:
                sent["Authorization"] = self.authorization
            if hasattr(data, "seek"):
                data.seek(0)
            try:
                request = urllib.request.Request(url, data=data, headers=sent, method=method)
                with self.opener(request, timeout=self.timeout) as response:
                    return _answer(response, sink)
            except urllib.error.HTTPError as error:
                if error.code in REDIRECTS and error.headers.get("Location") and method in ("GET", "HEAD"):
                    return self._redirected(method, urllib.parse.urljoin(url, error.headers["Location"]), sink)
                # a Bearer token is for the scope it was asked with: a push or a delete after a pull asks anew
                if error.code != 401 or (self.authorization and not self.authorization.startswith("Bearer ")):
                    return Response(error.code, error.headers, error.read())
                scheme, params = _challenge(error.headers.get("WWW-Authenticate"))
                if scheme == "basic":
                    self.authorization = _basic(self.username, self.password)
                elif scheme == "bearer" and params.get("realm"):
                    self.authorization = self._token(params, scope)
                else:
                    return Response(error.code, error.headers, b"")
        return Response(401, {}, b"the registry refused the credentials")

    def _redirected(self, method, url, sink, hops=5):
        """The Response of a GET or HEAD the registry sent elsewhere: asked without the credentials."""
        try:
            with self.opener(urllib.request.Request(url, method=method), timeout=self.timeout) as response:
                return _answer(response, sink)
        except urllib.error.HTTPError as error:
            if error.code in REDIRECTS and error.headers.get("Location") and hops > 0:
                return self._redirected(method, urllib.parse.urljoin(url, error.headers["Location"]), sink, hops - 1)
            return Response(error.code, error.headers, error.read())

    def check(self, response, what):
        """The response, or RuntimeError naming what failed and the registry's answer."""
        if response.status >= 300:
            raise RuntimeError("%s: HTTP %d %s" % (what, response.status, response.body[:300].decode(errors="replace")))
        return response

    def tags(self):
        """The repository's tags ([] when the registry does not know it), every page (the Link header's next)."""
        found, path = [], "tags/list"
        while path:
            response = self.request("GET", path, headers={"Accept": "application/json"})
            if response.status == 404:
                return sorted(found)
            found.extend(self.check(response, "tags of " + self.repository).json().get("tags") or [])
            link = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', (response.headers or {}).get("Link") or "")
            path = urllib.parse.urljoin(self.base + "/", link.group(1)) if link else None
        return sorted(found)

    def descriptor(self, reference):
        """The descriptor (mediaType, digest, size) of the manifest at a tag or digest; None if there is none."""
        response = self.request("HEAD", "manifests/" + reference, headers={"Accept": MANIFEST_TYPES})
        if response.status == 404:
            return None
        self.check(response, "manifest %s of %s" % (reference, self.repository))
        return {"mediaType": response.headers["Content-Type"].split(";")[0].strip(),
                "digest": response.headers["Docker-Content-Digest"], "size": int(response.headers["Content-Length"])}

    def manifest(self, reference, accept=MANIFEST_TYPES):
        """The manifest at a tag or digest (parsed JSON); None if there is none."""
        response = self.request("GET", "manifests/" + reference, headers={"Accept": accept})
        if response.status == 404:
            return None
        return self.check(response, "manifest %s of %s" % (reference, self.repository)).json()

    def put_blob(self, data):
        """Upload a blob unless the repository has it; its digest, and whether it was uploaded."""
        digest = digest_of(data)
        if self.request("HEAD", "blobs/" + digest, scope="pull,push").status == 200:
            return digest, False
        started = self.check(self.request("POST", "blobs/uploads/", data=b"", scope="pull,push"),
                             "upload to " + self.repository)
        location = urllib.parse.urljoin(self.base + "/", started.headers["Location"])
        location += ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        self.check(self.request("PUT", location, data=data, scope="pull,push",
                                headers={"Content-Type": "application/octet-stream"}), "blob " + digest)
        return digest, True

    def put_blob_file(self, path, digest, size):
        """Upload the file `path` as the blob `digest` (its sha256, known) unless the repository has it, streamed
        from the file; whether it was uploaded. The registry checks the digest."""
        if self.request("HEAD", "blobs/" + digest, scope="pull,push").status == 200:
            return False
        started = self.check(self.request("POST", "blobs/uploads/", data=b"", scope="pull,push"),
                             "upload to " + self.repository)
        location = urllib.parse.urljoin(self.base + "/", started.headers["Location"])
        location += ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        with open(path, "rb") as handle:
            self.check(self.request("PUT", location, data=handle, scope="pull,push",
                                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)}),
                       "blob " + digest)
        return True

    def get_blob(self, digest, size, path=None):
        """The blob `digest` (bytes), or written to the file `path` (None returned); RuntimeError when the registry
        has none or it is not `size` bytes with that sha256 (a partial file is left for the caller to drop)."""
        hashed, parts, written = hashlib.sha256(), [], [0]
        handle = open(path, "wb") if path else None

        def sink(block):
            hashed.update(block)
            written[0] += len(block)
            if written[0] > size:
                raise RuntimeError("blob %s is larger than the %d bytes its manifest gives" % (digest, size))
            (handle.write if handle else parts.append)(block)
        try:
            self.check(self.request("GET", "blobs/" + digest, sink=sink), "blob %s of %s" % (digest, self.repository))
        finally:
            if handle:
                handle.close()
        actual = "sha256:" + hashed.hexdigest()
        if written[0] != size or actual != digest:
            raise RuntimeError("blob %s of %s is damaged: %d bytes with %s, not %d bytes with that digest"
                               % (digest, self.repository, written[0], actual, size))
        return None if path else b"".join(parts)

    def put_manifest(self, reference, manifest, media_type):
        """PUT a manifest (bytes) at a tag or its digest; the Response (its headers say OCI-Subject)."""
        return self.check(self.request("PUT", "manifests/" + reference, data=manifest, scope="pull,push",
                                       headers={"Content-Type": media_type}),
                          "manifest %s of %s" % (reference, self.repository))

    def manifest_digest(self, reference):
        """The digest of the manifest (or index) at a tag, as the registry names it; None if there is none. A
        registry that gives no Docker-Content-Digest on HEAD is asked for the manifest, whose bytes it hashes."""
        response = self.request("HEAD", "manifests/" + reference, headers={"Accept": MANIFEST_TYPES})
        if response.status == 404:
            return None
        self.check(response, "manifest %s of %s" % (reference, self.repository))
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        response = self.check(self.request("GET", "manifests/" + reference, headers={"Accept": MANIFEST_TYPES}),
                              "manifest %s of %s" % (reference, self.repository))
        return digest_of(response.body)


def _auth_key(key):
    """The host[:port] of a Docker config `auths` key (`https://index.docker.io/v1/` is Docker Hub's)."""
    host = re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def credentials_for(registry, username="", password="", login_registry="", config_dir=""):
    """(username, password) for `registry`: the given ones when it is `login_registry` (the registry they belong
    to), else those of the Docker client configuration (`config_dir`, DOCKER_CONFIG or ~/.docker)."""
    if username and login_registry == registry:
        return username, password
    config = config_dir or os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    return docker_config_credentials(registry, config)


def docker_config_credentials(registry, config_dir):
    """(username, password) the Docker client configuration in `config_dir` (its config.json) stores for `registry`
    (`auths`, as `docker login` writes it without a credential helper); ('', '') when it has none."""
    try:
        with open(os.path.join(config_dir, "config.json")) as handle:
            config = json.load(handle)
    except FileNotFoundError:
        return "", ""
    except (OSError, ValueError) as error:
        raise RuntimeError("cannot read the Docker client configuration %s: %s"
                           % (os.path.join(config_dir, "config.json"), error))
    for key, entry in sorted((config.get("auths") or {}).items()):
        if _auth_key(key) == registry and isinstance(entry, dict) and entry.get("auth"):
            username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return username, password
    return "", ""
