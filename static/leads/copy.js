// Copy buttons of the admin: data-copy names the element whose text is copied.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  navigator.clipboard.writeText(field.value || field.textContent)
    .then(() => { button.textContent = "Copied"; });
});
