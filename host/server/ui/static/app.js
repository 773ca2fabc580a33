// Progressive: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // A select marked data-autosubmit submits its form when changed.
  for (const el of document.querySelectorAll("select[data-autosubmit]")) {
    el.addEventListener("change", () => el.form.submit());
  }
  // A form marked data-busy shows that it is working, and is sent once.
  for (const form of document.querySelectorAll("form[data-busy]")) {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.textContent = form.dataset.busy;
        button.classList.add("busy");
        button.setAttribute("aria-busy", "true");
      }
    });
  }
  // A form marked data-consent asks the provider in a pop-up, as the
  // platforms do, and this page waits. A blocked pop-up: this page goes.
  for (const form of document.querySelectorAll("form[data-consent]")) {
    form.addEventListener("submit", () => {
      const popup = window.open("about:blank", "connhost-consent", "popup,width=620,height=760");
      if (!popup) return;
      form.target = "connhost-consent";
      const status = form.querySelector("[data-consent-status]");
      if (status) status.textContent = form.dataset.consent;
    });
  }
  // Back from the provider inside that pop-up: the page that opened it
  // shows the outcome, and the pop-up closes. (Without an opener of this
  // origin, the meta refresh carries on here.)
  const back = document.querySelector("[data-consent-return]");
  if (back && window.opener) {
    try {
      if (window.opener.location.origin === window.location.origin) {
        window.opener.location.href = back.dataset.consentReturn;
        window.close();
      }
    } catch {
      // The opener is another origin's page now: stay here.
    }
  }
});
