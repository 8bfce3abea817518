"""Views of the test app: HTML form with CSRF, JSON API, upload, download, streaming, and
async views (served through myproject.asgi; under WSGI Django runs them in an event loop of
their own). `MARKERS` records how an async stream ended, for `/async/markers/<token>/`."""

import asyncio
import csv
import gc
import hashlib
import json
from collections.abc import AsyncIterator, Iterator

from django.conf import settings
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie

from notes.models import Note

MARKERS: dict[str, str] = {}


@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":  # CSRF-checked by the middleware
        note = Note.objects.create(title=request.POST["title"], body=request.POST["body"])
        return redirect("notes:detail", pk=note.pk)
    return render(request, "notes/index.html", {"notes": Note.objects.order_by("pk")})


def detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "notes/detail.html", {"note": get_object_or_404(Note, pk=pk)})


@csrf_exempt
def api_notes(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        payload = json.loads(request.body)
        note = Note.objects.create(title=payload["title"], body=payload.get("body", ""))
        response = JsonResponse(note.as_dict(), status=201)
        response["Location"] = reverse("notes:detail", args=[note.pk])
        return response
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    titles = request.GET.getlist("title")
    notes = Note.objects.filter(title__in=titles) if titles else Note.objects.all()
    return JsonResponse({"notes": [note.as_dict() for note in notes.order_by("pk")]})


@csrf_exempt
def bulk(request: HttpRequest) -> JsonResponse:
    payload = json.loads(request.body)
    notes = Note.objects.bulk_create(
        Note(title=f"{payload['prefix']} {n:05d}", body=payload["body"])
        for n in range(payload["count"])
    )
    return JsonResponse({"created": len(notes)}, status=201)


class _Echo:
    """The pseudo-buffer of Django's "streaming large CSV files" how-to."""

    def write(self, value: str) -> str:
        return value


def export(request: HttpRequest) -> StreamingHttpResponse:
    """Stream notes as CSV straight from a server-side ORM iterator (Django's how-to)."""
    notes = Note.objects.filter(title__startswith=request.GET["prefix"]).order_by("pk")
    writer = csv.writer(_Echo())
    rows = (
        writer.writerow([note.pk, note.title, note.body]) for note in notes.iterator(chunk_size=100)
    )
    return StreamingHttpResponse(rows, content_type="text/csv")


@csrf_exempt
def upload(request: HttpRequest) -> JsonResponse:
    file = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    return JsonResponse(
        {
            "size": file.size,
            "sha256": digest.hexdigest(),
            "filename": file.name,
            "note": request.POST["note"],
        }
    )


def download(request: HttpRequest) -> FileResponse:
    return FileResponse(
        open(settings.DATA_DIR / "blob.bin", "rb"), as_attachment=True, filename="blob.bin"
    )


def stream(request: HttpRequest) -> StreamingHttpResponse:
    count = int(request.GET.get("count", "5"))

    def lines() -> Iterator[str]:
        for n in range(count):
            # reverse() inside the generator sees the request's script prefix
            yield f"line {n} {reverse('notes:stream')}\n"

    return StreamingHttpResponse(lines(), content_type="text/plain")


def visits(request: HttpRequest) -> JsonResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JsonResponse({"visits": request.session["visits"]})


def urls(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "index": reverse("notes:index"),
            "detail": reverse("notes:detail", args=[7]),
            "absolute": request.build_absolute_uri(reverse("notes:detail", args=[7])),
            "path": request.path,
            "path_info": request.path_info,
            "full_path": request.get_full_path(),
            "script_name": request.META["SCRIPT_NAME"],
        }
    )


def go(request: HttpRequest) -> HttpResponse:
    return redirect("notes:urls")


def collect(request: HttpRequest) -> JsonResponse:
    """Run the cyclic garbage collector: what only a reference cycle kept alive is freed."""
    return JsonResponse({"collected": gc.collect()})


def boom(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("a Django view failed on purpose")


async def async_notes(request: HttpRequest) -> JsonResponse:
    """The async ORM in an async view."""
    notes = Note.objects.filter(title__startswith=request.GET.get("prefix", "")).order_by("pk")
    titles = [note.title async for note in notes]
    return JsonResponse({"count": await notes.acount(), "titles": titles, "in_loop": _in_loop()})


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    """`count` lines from an async generator (0: until the client leaves); the generator
    records how it ended under `token`."""
    count = int(request.GET.get("count", "5"))
    token = request.GET.get("token", "")

    async def lines() -> AsyncIterator[str]:
        n = 0
        try:
            while count == 0 or n < count:
                yield f"async line {n}\n"
                n += 1
                if count == 0:
                    await asyncio.sleep(0.01)
            MARKERS[token] = "finished"
        except BaseException as exc:
            MARKERS[token] = f"{type(exc).__name__} after {n}"
            raise

    return StreamingHttpResponse(lines(), content_type="text/plain")


async def async_marker(request: HttpRequest, token: str) -> JsonResponse:
    return JsonResponse({"marker": MARKERS.get(token)})
