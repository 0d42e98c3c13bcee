// Render every math element that pymdownx.arithmatex (generic mode) left in the page.
// Material's document$ emits once per page load, also after instant navigation.
document$.subscribe(() => {
  for (const el of document.querySelectorAll(".arithmatex")) {
    if (el.querySelector(".katex")) continue;
    const tex = el.textContent.trim();
    const delimited = /^\\[\[(]/.test(tex);
    katex.render(delimited ? tex.slice(2, -2) : tex, el, {
      displayMode: el.tagName === "DIV",
      throwOnError: false,
    });
  }
});
