/* PLACEHOLDER (session scaffolding; replaced by the module that implements it). */
#include <stdio.h>
int ss_cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "semiseg eval: not available in this build yet\n");
    return 2;
}
