/* unavailable.c — `sqclaim serve` in a build without libmicrohttpd. */
#include "../cli.h"

const char serve_help[] = "Usage: sqclaim serve ...\n"
                          "\n"
                          "Not built: this sqclaim was built without libmicrohttpd\n"
                          "(install libmicrohttpd-dev and rebuild; docs/http.md).\n";

int cmd_serve(cli *c)
{
    (void)c;
    cli_msg("serve is not built: libmicrohttpd was missing at build time "
            "(install libmicrohttpd-dev and rebuild)");
    return CLI_EXIT_CONFIG;
}
