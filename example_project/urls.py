from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # A login page for everyone, not only staff: the people who answer tasks
    # in the inbox (sagas/tasks/) need not be (the admin's look, its form).
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="admin/login.html", extra_context={"site_header": "Example shop"}
        ),
        name="login",
    ),
    # The operator console, the inbox and the step-result webhook (sagas/webhook/).
    path("sagas/", include("django_saga.urls")),
]
