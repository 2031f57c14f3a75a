#include <stdio.h>
int ss_cmd_demo(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "demo: not built yet\n");
    return 1;
}
