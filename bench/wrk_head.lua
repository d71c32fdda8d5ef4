-- wrk script for HEAD requests, as the issue proposed. Kept for reference and for a wrk that can
-- do HEAD: Debian 12's wrk 4.1 cannot (its parser waits for the Content-Length body a HEAD response
-- never has, so every request becomes a read error: wg/wrk issue #198). head_rps.sh therefore
-- measures HEAD with bench/headload.c and uses wrk for GET of the same small file.
wrk.method = "HEAD"
