# nstats sidecar image: Node 24 LTS + iftop. Runs as a non-root user; capture needs only CAP_NET_RAW.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends iftop libcap2-bin \
  && setcap cap_net_raw+ep /usr/sbin/iftop \
  && apt-get purge -y libcap2-bin && apt-get autoremove -y \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
ENV NODE_ENV=production
USER node
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["run"]
