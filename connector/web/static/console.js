// seqsync console: a little plain JavaScript, no inline handlers (the CSP allows only this file).
"use strict";

// Wait limits as the user types (the server checks them again on save).
function checkWait(box) {
  const form = box.closest("form");
  const typeSelect = form.querySelector(".step-type");
  const days = box.querySelector("input[name=days]");
  const hours = box.querySelector("input[name=hours]");
  const message = box.querySelector(".wait-message");
  const maxDays = Number(box.dataset.maxDays);
  const maxHours = Number(box.dataset.maxHours);
  const isWait = !typeSelect || typeSelect.value === "wait";
  let problem = "";
  if (isWait) {
    const d = days.value.trim() === "" ? 0 : Number(days.value);
    const h = hours.value.trim() === "" ? 0 : Number(hours.value);
    if (!Number.isInteger(d) || d < 0 || d > maxDays) {
      problem = `wait days must be 0-${maxDays}`;
    } else if (!Number.isInteger(h) || h < 0 || h > maxHours) {
      problem = `wait hours must be 0-${maxHours}`;
    } else if (d * 24 + h <= 0) {
      problem = "a wait must be longer than 0";
    } else if (d * 24 + h > maxDays * 24) {
      problem = `a wait can be at most ${maxDays} days`;
    }
  }
  message.textContent = problem;
  days.setCustomValidity(problem);
  const button = form.querySelector("button:not([name])");
  if (button) button.disabled = problem !== "";
}

// Show the fields of the chosen step type only.
function showFields(form) {
  const typeSelect = form.querySelector(".step-type");
  if (!typeSelect) return;
  const kind = typeSelect.value;
  form.querySelectorAll(".for-activity").forEach((el) => { el.hidden = kind === "wait"; });
  form.querySelectorAll(".for-email").forEach((el) => { el.hidden = kind !== "email"; });
  form.querySelectorAll(".for-wait").forEach((el) => { el.hidden = kind !== "wait"; });
  ["condition", "update_record", "move_to_sequence"].forEach((k) => {
    form.querySelectorAll(`.for-${k}`).forEach((el) => { el.hidden = kind !== k; });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form.step-form").forEach((form) => {
    showFields(form);
    const box = form.querySelector(".wait-inputs");
    if (box) checkWait(box);
    form.addEventListener("input", () => { if (box) checkWait(box); });
    form.addEventListener("change", () => { showFields(form); if (box) checkWait(box); });
  });
});
