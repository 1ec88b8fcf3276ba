/* A C module: greets, then shows it sees only what the image declares. */
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("Hello from C (argv[0]=%s, %d args)\n", argv[0], argc);
    for (char **e = environ; *e; e++) {
        printf("env %s\n", *e);
    }
    DIR *d = opendir("/");
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (ent->d_name[0] != '.') printf("file /%s\n", ent->d_name);
        }
        closedir(d);
    }
    return argc > 1 ? atoi(argv[1]) : 0;
}
