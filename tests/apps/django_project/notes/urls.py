from django.urls import path

from notes import views

app_name = "notes"
urlpatterns = [
    path("", views.index, name="index"),
    path("notes/<int:pk>/", views.detail, name="detail"),
    path("api/notes/", views.api_notes, name="api"),
    path("api/notes/bulk/", views.bulk, name="bulk"),
    path("export.csv", views.export, name="export"),
    path("upload/", views.upload, name="upload"),
    path("download/", views.download, name="download"),
    path("stream/", views.stream, name="stream"),
    path("session/", views.visits, name="session"),
    path("urls/", views.urls, name="urls"),
    path("go/", views.go, name="go"),
    path("boom/", views.boom, name="boom"),
    path("gc/", views.collect, name="gc"),
    path("async/notes/", views.async_notes, name="async_notes"),
    path("async/stream/", views.async_stream, name="async_stream"),
    path("async/markers/<str:token>/", views.async_marker, name="async_marker"),
]
