# nstats image: Node 24 LTS + iftop. As a sidecar (`run`) it runs as a non-root user and capture needs
# only CAP_NET_RAW; as the node agent (`node`) it runs as root with nsenter (k8s/node-agent.yaml says why).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
# tsc, then esbuild: dist/nstats.mjs holds nstats and the code it uses of its dependencies.
RUN npx tsc -p tsconfig.build.json && node scripts/bundle.mjs

FROM node:24-bookworm-slim
# iftop gets CAP_NET_RAW as a file capability, so the non-root user can capture. glibc then runs it
# in secure-execution mode and ignores stdbuf's LD_PRELOAD path; a set-user-ID libstdbuf.so in
# /usr/lib is preloaded by name instead, keeping continuous mode's tables line-buffered
# (src/capture/iftop-stream.ts, lineBuffering()).
RUN apt-get update \
  && apt-get install -y --no-install-recommends iftop util-linux libcap2-bin \
  && setcap cap_net_raw+ep /usr/sbin/iftop \
  && cp /usr/libexec/coreutils/libstdbuf.so /usr/lib/libstdbuf.so \
  && chmod 4755 /usr/lib/libstdbuf.so \
  && apt-get purge -y libcap2-bin && apt-get autoremove -y \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The bundle is self-contained (it needs only Node's built-in modules): no node_modules.
COPY --from=build /app/dist/nstats.mjs ./nstats.mjs
COPY --from=build /app/dist/chunks ./chunks
ENV NODE_ENV=production
# glibc malloc: blocks of 32 KiB and more get their own mmap and go back to the system when freed
# (as the bundle's shebang sets it; see scripts/bundle.mjs).
ENV MALLOC_MMAP_THRESHOLD_=32768
USER node
# As the bundle's shebang runs it (see scripts/bundle.mjs).
ENTRYPOINT ["node", "/app/nstats.mjs"]
CMD ["run"]
