"""A small Exchange Web Services server on 127.0.0.1 for the tests.

There is no Exchange server to test against, so this answers the SOAP
operations exchangelib sends for kept's read-only use — ConvertId (the
version probe), GetFolder, FindFolder, SyncFolderItems and GetItem — with
responses shaped like the examples in Microsoft's EWS reference
(learn.microsoft.com/exchange/client-developer/web-service-reference/...):
the ``ServerVersionInfo`` SOAP header, ``ResponseMessages`` with
``ResponseClass``/``ResponseCode``, ``SyncState`` plus
``IncludesLastItemInRange``, ``t:Create`` changes and base64 ``MimeContent``.

Any other operation (UpdateItem, CreateItem, DeleteItem, MoveItem, ...) is
answered with ``ErrorInvalidRequest`` and recorded in `EwsServer.refused`,
so a test can prove kept never asks the server to change anything.

Sync states are opaque to the client but meaningful here: they name the
folder's generation and how many of its items the client has seen.
`EwsServer.invalidate_sync_state` bumps the generation (and gives every item
a new id, as a mailbox move does); a client presenting an older state gets
``ErrorInvalidSyncStateData`` exactly like Exchange.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
PATH = "/EWS/Exchange.asmx"

# Exchange Server 2019 CU12 reports itself like this.
VERSION_HEADER = (
    '<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1118" '
    'MinorBuildNumber="7" Version="V2017_07_11" '
    f'xmlns:h="{T}" xmlns="{T}" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
)

DISTINGUISHED = {
    "root": ("Root", ""),
    "msgfolderroot": ("Top of Information Store", "IPF.Note"),
    "inbox": ("Inbox", "IPF.Note"),
    "sentitems": ("Sent Items", "IPF.Note"),
}
PARENTS = {"msgfolderroot": "root", "inbox": "msgfolderroot", "sentitems": "msgfolderroot"}

WRITE_OPERATIONS = {
    "CreateItem", "UpdateItem", "DeleteItem", "MoveItem", "CopyItem", "SendItem",
    "MarkAsJunk", "MarkAllItemsAsRead", "EmptyFolder", "CreateFolder", "DeleteFolder", "UpdateFolder",
}


@dataclass
class EwsItem:
    """One message in a folder of the fake mailbox."""

    item_id: str
    mime: bytes
    received: datetime
    change_key: str = "CQAAABYAAAA"


@dataclass
class EwsFolder:
    """One folder: its items in arrival order, and the generation of its sync states."""

    distinguished: str
    name: str
    folder_class: str
    items: list[EwsItem] = field(default_factory=list)
    generation: int = 1

    @property
    def folder_id(self) -> str:
        return base64.b64encode(f"folder:{self.distinguished}".encode()).decode()


class EwsServer:
    """The fake server: a mailbox, one user and password, and a request log.

    :ivar username, password: the only credentials accepted (HTTP basic auth).
    :ivar operations: every SOAP operation received, in order.
    :ivar refused: operations that would have changed the mailbox.
    """

    def __init__(
        self, username: str = "sam@example.com", password: str = "Pa55 w\u00f6rd", tls_dir: Path | None = None
    ) -> None:
        self.username = username
        self.password = password
        self.email = username
        self.folders = {key: EwsFolder(key, *value) for key, value in DISTINGUISHED.items()}
        self.operations: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._serial = 0
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self.scheme = "http"
        if tls_dir is not None:
            # HTTPS with a self-signed certificate (tls_dir/cert.pem, key.pem),
            # for the ca_file and insecure_skip_verify tests.
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._http.serve_forever, name="fake-ews", daemon=True)

    @property
    def url(self) -> str:
        """The EWS endpoint URL."""
        host, port = self._http.server_address[:2]
        return f"{self.scheme}://{host}:{port}{PATH}"

    def start(self) -> "EwsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    # -- changing the mailbox behind the client's back ----------------------

    def add(self, distinguished: str, mime: bytes, received: datetime | None = None) -> str:
        """Deliver a message into a folder; return its item id."""
        with self._lock:
            folder = self.folders[distinguished]
            item = EwsItem(self._new_id(folder), mime, received or datetime.now(timezone.utc))
            folder.items.append(item)
            return item.item_id

    def invalidate_sync_state(self, distinguished: str) -> None:
        """Make every sync state of the folder invalid and re-id its items."""
        with self._lock:
            folder = self.folders[distinguished]
            folder.generation += 1
            for item in folder.items:
                item.item_id = self._new_id(folder)

    def _new_id(self, folder: EwsFolder) -> str:
        self._serial += 1
        # Real item ids are long base64 blobs; keep them opaque and unique.
        raw = f"item:{folder.distinguished}:{folder.generation}:{self._serial}".encode()
        return base64.b64encode(raw.ljust(48, b"\0")).decode()

    # -- SOAP ---------------------------------------------------------------

    def answer(self, body: bytes) -> tuple[int, str]:
        """The HTTP status and SOAP envelope answering one request body."""
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError:
            return 400, ""
        request = envelope.find(f"{{{SOAP}}}Body")
        operation_element = request[0] if request is not None and len(request) else None
        if operation_element is None:
            return 400, ""
        operation = operation_element.tag.split("}")[-1]
        with self._lock:
            self.operations.append(operation)
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                if operation in WRITE_OPERATIONS:
                    self.refused.append(operation)
                inner = _error_message(f"{operation}ResponseMessage", "ErrorInvalidRequest",
                                       "This fake server only answers read operations.")
                return 200, _envelope(f"{operation}Response", inner)
            return 200, _envelope(f"{operation}Response", handler(operation_element))

    def _op_ConvertId(self, request: ET.Element) -> str:
        # exchangelib's version probe converts the id "DUMMY"; Exchange says it is malformed.
        return _error_message("ConvertIdResponseMessage", "ErrorInvalidIdMalformed", "Id is malformed.")

    def _folder_of(self, element: ET.Element | None) -> EwsFolder | None:
        if element is None:
            return None
        if element.tag == f"{{{T}}}DistinguishedFolderId":
            return self.folders.get(element.get("Id", ""))
        if element.tag == f"{{{T}}}FolderId":
            for folder in self.folders.values():
                if folder.folder_id == element.get("Id"):
                    return folder
        return None

    def _folder_xml(self, folder: EwsFolder) -> str:
        klass = f"<t:FolderClass>{folder.folder_class}</t:FolderClass>" if folder.folder_class else ""
        parent_key = PARENTS.get(folder.distinguished)
        parent = (
            f'<t:ParentFolderId Id="{self.folders[parent_key].folder_id}" ChangeKey="AQAAABYAAAA"/>'
            if parent_key else ""
        )
        return (
            "<t:Folder>"
            f'<t:FolderId Id="{folder.folder_id}" ChangeKey="AQAAABYAAAA"/>'
            f"{parent}"
            f"{klass}"
            f"<t:DisplayName>{escape(folder.name)}</t:DisplayName>"
            f"<t:TotalCount>{len(folder.items)}</t:TotalCount>"
            "<t:ChildFolderCount>0</t:ChildFolderCount>"
            "<t:UnreadCount>0</t:UnreadCount>"
            "</t:Folder>"
        )

    def _op_GetFolder(self, request: ET.Element) -> str:
        ids = request.find(f"{{{M}}}FolderIds")
        parts = []
        for element in list(ids) if ids is not None else []:
            folder = self._folder_of(element)
            if folder is None:
                parts.append(_error_message(
                    "GetFolderResponseMessage", "ErrorFolderNotFound",
                    "The specified folder could not be found in the store.",
                ))
            else:
                parts.append(
                    '<m:GetFolderResponseMessage ResponseClass="Success">'
                    "<m:ResponseCode>NoError</m:ResponseCode>"
                    f"<m:Folders>{self._folder_xml(folder)}</m:Folders>"
                    "</m:GetFolderResponseMessage>"
                )
        return "".join(parts)

    def _op_FindFolder(self, request: ET.Element) -> str:
        parents = request.find(f"{{{M}}}ParentFolderIds")
        start = self._folder_of(parents[0]) if parents is not None and len(parents) else None
        deep = request.get("Traversal") == "Deep"
        children = []
        for key, folder in self.folders.items():
            ancestor = PARENTS.get(key)
            while ancestor is not None:
                if start is not None and ancestor == start.distinguished:
                    children.append(folder)
                    break
                ancestor = PARENTS.get(ancestor) if deep else None
        return (
            '<m:FindFolderResponseMessage ResponseClass="Success">'
            "<m:ResponseCode>NoError</m:ResponseCode>"
            f'<m:RootFolder TotalItemsInView="{len(children)}" IncludesLastItemInRange="true">'
            f"<t:Folders>{''.join(self._folder_xml(f) for f in children)}</t:Folders>"
            "</m:RootFolder>"
            "</m:FindFolderResponseMessage>"
        )

    def _op_SyncFolderItems(self, request: ET.Element) -> str:
        folder = self._folder_of(request.find(f"{{{M}}}SyncFolderId/*"))
        if folder is None:
            return _error_message("SyncFolderItemsResponseMessage", "ErrorFolderNotFound",
                                  "The specified folder could not be found in the store.")
        state_text = (request.findtext(f"{{{M}}}SyncState") or "").strip()
        limit = int(request.findtext(f"{{{M}}}MaxChangesReturned") or "100")
        seen = 0
        if state_text:
            try:
                name, generation, seen_text = base64.b64decode(state_text, validate=True).decode().split(":")
                valid = name == folder.distinguished and int(generation) == folder.generation
                seen = int(seen_text)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                valid = False
            if not valid:
                # As in Microsoft's "SyncFolderItems error response" example: an
                # empty SyncState and IncludesLastItemInRange follow the code.
                return _error_message(
                    "SyncFolderItemsResponseMessage", "ErrorInvalidSyncStateData",
                    "Synchronization state data is corrupt or otherwise invalid.",
                    "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
                )
        new = folder.items[seen : seen + limit]
        seen += len(new)
        state = base64.b64encode(f"{folder.distinguished}:{folder.generation}:{seen}".encode()).decode()
        last = "true" if seen >= len(folder.items) else "false"
        changes = "".join(
            f'<t:Create><t:Message><t:ItemId Id="{item.item_id}" ChangeKey="{item.change_key}"/>'
            "</t:Message></t:Create>"
            for item in new
        )
        return (
            '<m:SyncFolderItemsResponseMessage ResponseClass="Success">'
            "<m:ResponseCode>NoError</m:ResponseCode>"
            f"<m:SyncState>{state}</m:SyncState>"
            f"<m:IncludesLastItemInRange>{last}</m:IncludesLastItemInRange>"
            f"<m:Changes>{changes}</m:Changes>"
            "</m:SyncFolderItemsResponseMessage>"
        )

    def _op_GetItem(self, request: ET.Element) -> str:
        wanted = {
            path.get("FieldURI")
            for path in request.iter(f"{{{T}}}FieldURI")
        }
        by_id = {item.item_id: item for folder in self.folders.values() for item in folder.items}
        parts = []
        for element in request.iter(f"{{{T}}}ItemId"):
            item = by_id.get(element.get("Id", ""))
            if item is None:
                parts.append(_error_message(
                    "GetItemResponseMessage", "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                ))
                continue
            mime = ""
            if "item:MimeContent" in wanted:
                mime = f'<t:MimeContent CharacterSet="UTF-8">{base64.b64encode(item.mime).decode()}</t:MimeContent>'
            received = ""
            if "item:DateTimeReceived" in wanted:
                received = f"<t:DateTimeReceived>{item.received.strftime('%Y-%m-%dT%H:%M:%SZ')}</t:DateTimeReceived>"
            parts.append(
                '<m:GetItemResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode>"
                "<m:Items><t:Message>"
                f"{mime}"
                f'<t:ItemId Id="{item.item_id}" ChangeKey="{item.change_key}"/>'
                f"{received}"
                "</t:Message></m:Items>"
                "</m:GetItemResponseMessage>"
            )
        return "".join(parts)


def _error_message(tag: str, code: str, text: str, extra: str = "") -> str:
    return (
        f'<m:{tag} ResponseClass="Error">'
        f"<m:MessageText>{escape(text)}</m:MessageText>"
        f"<m:ResponseCode>{code}</m:ResponseCode>"
        "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
        f"{extra}"
        f"</m:{tag}>"
    )


def _envelope(response_tag: str, messages: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}">'
        f"<s:Header>{VERSION_HEADER}</s:Header>"
        '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f'<m:{response_tag} xmlns:m="{M}" xmlns:t="{T}">'
        f"<m:ResponseMessages>{messages}</m:ResponseMessages>"
        f"</m:{response_tag}>"
        "</s:Body></s:Envelope>"
    )


def _handler_for(server: EwsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path != PATH:
                self._send(404, "")
                return
            if not self._authorized():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="127.0.0.1"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, text = server.answer(body)
            self._send(status, text)

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            try:
                raw = base64.b64decode(header[6:])
            except binascii.Error:
                return False
            # requests encodes basic credentials as Latin-1, browsers as UTF-8; IIS takes both.
            for encoding in ("utf-8", "latin-1"):
                try:
                    user, _, password = raw.decode(encoding).partition(":")
                except UnicodeDecodeError:
                    continue
                if user == server.username and password == server.password:
                    return True
            return False

        def _send(self, status: int, text: str) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler
