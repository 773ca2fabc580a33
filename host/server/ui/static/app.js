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
});
