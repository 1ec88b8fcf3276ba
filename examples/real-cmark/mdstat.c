/* Statistics of a Markdown file, by libcmark's parser (cmark's static library from the CMake
   stage): headings, links, code blocks, and the size of the HTML it renders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmark.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: mdstat FILE.md\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  cmark_node *doc = cmark_parse_file(f, CMARK_OPT_DEFAULT);
  fclose(f);
  int headings = 0, links = 0, code = 0;
  const char *first = NULL;
  cmark_iter *it = cmark_iter_new(doc);
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
    cmark_node *n = cmark_iter_get_node(it);
    if (ev != CMARK_EVENT_ENTER)
      continue;
    switch (cmark_node_get_type(n)) {
    case CMARK_NODE_HEADING:
      headings++;
      if (!first && cmark_node_first_child(n))
        first = cmark_node_get_literal(cmark_node_first_child(n));
      break;
    case CMARK_NODE_LINK:
      links++;
      break;
    case CMARK_NODE_CODE_BLOCK:
      code++;
      break;
    default:
      break;
    }
  }
  cmark_iter_free(it);
  char *html = cmark_render_html(doc, CMARK_OPT_DEFAULT);
  printf("libcmark %s\nheadings: %d\nlinks: %d\ncode blocks: %d\nfirst heading: %s\nhtml bytes: %zu\n",
         cmark_version_string(), headings, links, code, first ? first : "-", strlen(html));
  free(html);
  cmark_node_free(doc);
  return 0;
}
