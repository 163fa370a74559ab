from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The operator console and the step-result webhook (sagas/webhook/).
    path("sagas/", include("django_saga.urls")),
]
