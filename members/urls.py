"""The consumer pages, mounted at the site root by config/urls.py."""

from django.urls import path

from . import notices, views

app_name = "members"

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("signup/code/", views.send_code, name="send_code"),
    path("signin/", views.SignInView.as_view(), name="signin"),
    path("signout/", views.SignOutView.as_view(), name="signout"),
    path("password/", views.change_password, name="password_change"),
    path("code/", views.member_code, name="member_code"),
    path("history/", views.history, name="history"),
    path("rewards/", views.rewards, name="rewards"),
    path("rewards/reserve/", views.reserve, name="reserve"),
    path("rewards/redemptions/", views.redemptions, name="redemptions"),
    path("rewards/redemptions/<int:pk>/", views.redemption, name="redemption"),
    path("rewards/redemptions/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("donate/", views.donations, name="donate"),
    path("donate/<int:pk>/", views.donate_to, name="donate_to"),
    path("stations/", views.stations, name="stations"),
    path("privacy/", views.privacy, name="privacy"),
    path("account/", views.account, name="account"),
    path("notices/", notices.notices, name="notices"),
    path("account/display-name/", views.display_name, name="display_name"),
    path("account/export.json", views.export_json, name="export_json"),
    path("account/export/<slug:section>.csv", views.export_csv, name="export_csv"),
    path("account/delete/", views.delete_account, name="delete_account"),
]
