import { ApiError, NetworkError, api, session, showError, signIn, signOutLocally, t } from "./common.js";

const form = document.getElementById("sign-in");
const errorBox = document.getElementById("sign-in-error");

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  // Only a path of this site, never another origin.
  return next.startsWith("/app/") && !next.startsWith("//") ? next : "/app/exams/";
}

if (session()?.access) window.location.replace(nextPage());

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(errorBox, "");
  const email = form.email.value.trim();
  const password = form.password.value;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const body = await api("/api/auth/login", { method: "POST", body: { email, password }, auth: false });
    if (body.user?.role !== "student") {
      signOutLocally();
      showError(errorBox, t("not_student"));
      return;
    }
    signIn(body);
    window.location.assign(nextPage());
  } catch (error) {
    let message = t("server_error");
    if (error instanceof NetworkError) message = t("network_error");
    else if (error instanceof ApiError && (error.status === 401 || error.status === 400)) message = t("bad_credentials");
    else if (error instanceof ApiError && error.status === 429) message = t("throttled");
    showError(errorBox, message);
    form.password.focus();
  } finally {
    button.disabled = false;
  }
});
