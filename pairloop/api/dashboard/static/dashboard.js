// The dashboard's only script: fill in the fragments a page names ([data-fragment]): at once
// with [data-load], and again every [data-poll] milliseconds for as long as the fresh fragment
// still asks for it (a running action). Everything else is plain HTML forms and links.
"use strict";

async function load(element) {
  const response = await fetch(element.dataset.fragment, {credentials: "same-origin"});
  if (response.status === 401) {  // the session ended: the page itself asks to log in again
    window.location.reload();
    return;
  }
  if (!response.ok) {
    element.insertAdjacentHTML("beforeend", `<p class="message error">Could not refresh (${response.status}).</p>`);
    return;
  }
  const id = element.id;
  element.outerHTML = await response.text();
  poll(document.getElementById(id));
}

function poll(element) {
  if (element && element.dataset.poll) {
    setTimeout(() => load(element), Number(element.dataset.poll));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const element of document.querySelectorAll("[data-fragment]")) {
    if ("load" in element.dataset) {
      load(element);
    } else {
      poll(element);
    }
  }
});
