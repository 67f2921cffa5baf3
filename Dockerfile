# syntax=docker/dockerfile:1
# CallRecovery images, one multi-stage build:
#   docker build --target service          -t callrecovery:dev .
#   docker build --target traffic-simulator -t callrecovery-traffic-simulator:dev .
#   docker build --target switch-emulator   -t callrecovery-switch-emulator:dev .
#   docker build --target lookup            -t callrecovery-lookup:dev .
#   docker build --target redrive           -t callrecovery-redrive:dev .
# Runtime stages are Ubuntu "chiseled" .NET images: no shell, no package manager, non-root.

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
# Restore first, from the project files alone, so that source edits keep the package layer cached.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY protos/CallRecovery.Contracts.csproj protos/
COPY services/CallRecovery/CallRecovery.csproj services/CallRecovery/
COPY tools/CallRecovery.TrafficSimulator/CallRecovery.TrafficSimulator.csproj tools/CallRecovery.TrafficSimulator/
COPY tools/CallRecovery.SwitchEmulator/CallRecovery.SwitchEmulator.csproj tools/CallRecovery.SwitchEmulator/
COPY tools/CallRecovery.Lookup/CallRecovery.Lookup.csproj tools/CallRecovery.Lookup/
COPY tools/CallRecovery.Redrive/CallRecovery.Redrive.csproj tools/CallRecovery.Redrive/
RUN for project in services/CallRecovery tools/CallRecovery.TrafficSimulator tools/CallRecovery.SwitchEmulator tools/CallRecovery.Lookup tools/CallRecovery.Redrive; do \
      dotnet restore "$project" || exit 1; \
    done
COPY protos/ protos/
COPY services/CallRecovery/ services/CallRecovery/
COPY tools/CallRecovery.TrafficSimulator/ tools/CallRecovery.TrafficSimulator/
COPY tools/CallRecovery.SwitchEmulator/ tools/CallRecovery.SwitchEmulator/
COPY tools/CallRecovery.Lookup/ tools/CallRecovery.Lookup/
COPY tools/CallRecovery.Redrive/ tools/CallRecovery.Redrive/

# librdkafka ships for every platform; an image needs Linux glibc builds only. On Debian and Ubuntu the
# default librdkafka.so lacks libsasl2.so.3 and Confluent.Kafka loads centos8-librdkafka.so, which needs
# nothing beyond glibc: that is what makes it run on a chiseled image.
FROM build AS publish-service
RUN dotnet publish services/CallRecovery -c Release --no-restore -o /out -p:UseAppHost=false \
 && rm -rf /out/runtimes/win-* /out/runtimes/osx-* /out/runtimes/linux-musl-* /out/runtimes/*/native/alpine-librdkafka.so

FROM build AS publish-traffic-simulator
RUN dotnet publish tools/CallRecovery.TrafficSimulator -c Release --no-restore -o /out -p:UseAppHost=false \
 && rm -rf /out/runtimes/win-* /out/runtimes/osx-* /out/runtimes/linux-musl-* /out/runtimes/*/native/alpine-librdkafka.so

FROM build AS publish-switch-emulator
RUN dotnet publish tools/CallRecovery.SwitchEmulator -c Release --no-restore -o /out -p:UseAppHost=false

FROM build AS publish-lookup
RUN dotnet publish tools/CallRecovery.Lookup -c Release --no-restore -o /out -p:UseAppHost=false

FROM build AS publish-redrive
RUN dotnet publish tools/CallRecovery.Redrive -c Release --no-restore -o /out -p:UseAppHost=false \
 && rm -rf /out/runtimes/win-* /out/runtimes/osx-* /out/runtimes/linux-musl-* /out/runtimes/*/native/alpine-librdkafka.so

# The service: HTTP (health, metrics, lookup) on 8080, gRPC for switches on 8081. Configuration by
# environment variables (Kafka__BootstrapServers, Redis__ConnectionString, OTEL_*): see README.md.
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}-noble-chiseled AS service
WORKDIR /app
COPY --from=publish-service /out .
ENV ASPNETCORE_HTTP_PORTS=
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["dotnet", "CallRecovery.dll"]

FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION}-noble-chiseled AS traffic-simulator
WORKDIR /app
COPY --from=publish-traffic-simulator /out .
USER 10001:10001
ENTRYPOINT ["dotnet", "CallRecovery.TrafficSimulator.dll"]

FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION}-noble-chiseled AS switch-emulator
WORKDIR /app
COPY --from=publish-switch-emulator /out .
USER 10001:10001
ENTRYPOINT ["dotnet", "CallRecovery.SwitchEmulator.dll"]

FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION}-noble-chiseled AS lookup
WORKDIR /app
COPY --from=publish-lookup /out .
USER 10001:10001
ENTRYPOINT ["dotnet", "callrecovery-lookup.dll"]

# The dead-letter redrive, run with the service's own settings (the same ConfigMap and Secret as environment
# variables): a Kubernetes Job or `docker run --rm -it --env-file ...`. Dry run unless --apply.
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}-noble-chiseled AS redrive
WORKDIR /app
COPY --from=publish-redrive /out .
USER 10001:10001
ENTRYPOINT ["dotnet", "callrecovery-redrive.dll"]
