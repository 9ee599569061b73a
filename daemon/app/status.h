/* status.h - `oeed status [--json] [--socket PATH] [-c FILE]`: the running daemon's live view
 * read from its status socket (status.c has both ends; daemon.h the daemon's side). */
#pragma once

int status_main(int argc, char **argv);
